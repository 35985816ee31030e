use readings::{average, max_step};

#[test]
fn big_readings_do_not_overflow() {
    assert_eq!(average(&[i32::MAX, i32::MAX]), Some(i32::MAX));
    assert_eq!(average(&[i32::MIN, i32::MIN, i32::MIN]), Some(i32::MIN));
    assert_eq!(average(&[i32::MAX, i32::MIN]), Some(0));
}

#[test]
fn ordinary_readings() {
    assert_eq!(average(&[]), None);
    assert_eq!(average(&[4]), Some(4));
    assert_eq!(average(&[1, 2]), Some(1));
    assert_eq!(average(&[-7, 0]), Some(-3));
    assert_eq!(max_step(&[i32::MIN, i32::MAX]), 4294967295);
}
