//! Sensor readings.

/// The mean of the readings, rounded toward zero; None when there are none.
pub fn average(readings: &[i32]) -> Option<i32> {
    if readings.is_empty() {
        return None;
    }
    let sum: i32 = readings.iter().sum();
    Some(sum / readings.len() as i32)
}

/// The largest change between two readings in a row, 0 for fewer than two.
pub fn max_step(readings: &[i32]) -> i64 {
    readings
        .windows(2)
        .map(|w| (i64::from(w[1]) - i64::from(w[0])).abs())
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_readings() {
        assert_eq!(average(&[1, 2, 3]), Some(2));
        assert_eq!(max_step(&[1, 5, 3]), 4);
    }
}
