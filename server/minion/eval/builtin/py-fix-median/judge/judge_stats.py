# mypy: ignore-errors
# (The hidden judge: it imports what the task asks for, which the repo as shipped lacks.)
import unittest

from stats import median


class HiddenMedianTest(unittest.TestCase):
    def test_even_counts_take_the_mean_of_the_middle_two(self):
        self.assertEqual(median([1, 2, 3, 4]), 2.5)
        self.assertEqual(median([5, 1]), 3)
        self.assertEqual(median([10, 2, 38, 23, 38, 23]), 23)

    def test_odd_counts_and_one_value(self):
        self.assertEqual(median([3, 1, 2]), 2)
        self.assertEqual(median([7]), 7)

    def test_the_input_is_left_alone_and_empty_is_an_error(self):
        values = [4, 1, 3, 2]
        median(values)
        self.assertEqual(values, [4, 1, 3, 2])
        with self.assertRaises(ValueError):
            median([])


if __name__ == "__main__":
    unittest.main()
