use wordstats::{word_count, word_frequencies};

fn pairs(list: &[(&str, usize)]) -> Vec<(String, usize)> {
    list.iter().map(|(w, n)| (w.to_string(), *n)).collect()
}

#[test]
fn frequencies_most_frequent_first_then_alphabetical() {
    assert_eq!(
        word_frequencies("the cat and The hat"),
        pairs(&[("the", 2), ("and", 1), ("cat", 1), ("hat", 1)])
    );
    assert_eq!(word_frequencies("Don't stop, don't!"), pairs(&[("don't", 2), ("stop", 1)]));
    assert_eq!(word_frequencies("b a b a c"), pairs(&[("a", 2), ("b", 2), ("c", 1)]));
    assert_eq!(word_frequencies(" ,. "), pairs(&[]));
}

#[test]
fn word_count_is_unchanged() {
    assert_eq!(word_count("It's a dog-eat-dog world"), 6);
}
