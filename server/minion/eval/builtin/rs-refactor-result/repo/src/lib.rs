//! Points on a grid, written "x,y".

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Point {
    pub x: i64,
    pub y: i64,
}

/// Parse "x,y" (spaces around the numbers allowed).
pub fn parse_point(text: &str) -> Point {
    let (x, y) = text.split_once(',').expect("a point is x,y");
    Point {
        x: x.trim().parse().unwrap(),
        y: y.trim().parse().unwrap(),
    }
}

/// The Manhattan distance between two points.
pub fn distance(a: &str, b: &str) -> i64 {
    let (a, b) = (parse_point(a), parse_point(b));
    (a.x - b.x).abs() + (a.y - b.y).abs()
}
