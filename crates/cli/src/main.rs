//! verdict
fn main() {}
