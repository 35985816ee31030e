use grid::{distance, parse_point, ParseError, Point};

#[test]
fn parses_points() {
    assert_eq!(parse_point("3, -4"), Ok(Point { x: 3, y: -4 }));
    assert_eq!(parse_point(" 0 ,0 "), Ok(Point { x: 0, y: 0 }));
}

#[test]
fn says_what_is_wrong_instead_of_panicking() {
    assert_eq!(parse_point("34"), Err(ParseError::MissingComma));
    assert_eq!(parse_point("3, x"), Err(ParseError::BadNumber("x".to_string())));
    assert_eq!(parse_point("1.5,2"), Err(ParseError::BadNumber("1.5".to_string())));
}

#[test]
fn distance_passes_the_error_on() {
    assert_eq!(distance("0,0", "3,4"), Ok(7));
    assert_eq!(distance("-1,-1", "1,1"), Ok(4));
    assert_eq!(distance("0,0", "zz"), Err(ParseError::MissingComma));
    assert_eq!(distance("q,0", "1,1"), Err(ParseError::BadNumber("q".to_string())));
}
