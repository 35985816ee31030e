//! Text statistics.

/// The number of words: runs of letters, digits and apostrophes.
pub fn word_count(text: &str) -> usize {
    words(text).count()
}

fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .filter(|w| !w.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_words() {
        assert_eq!(word_count("It's a dog-eat-dog world"), 6);
        assert_eq!(word_count("  "), 0);
    }
}
