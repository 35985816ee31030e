# mypy: ignore-errors
# (The hidden judge: it imports what the task asks for, which the repo as shipped lacks.)
import unittest
from unittest import mock

import pricing


class HiddenPricingTest(unittest.TestCase):
    def test_apply_discount(self):
        self.assertEqual(pricing.apply_discount(10.0, 25), 7.5)
        self.assertEqual(pricing.apply_discount(19.99, 10), 17.99)
        self.assertEqual(pricing.apply_discount(10.0, 150), 0.0)
        self.assertEqual(pricing.apply_discount(3.0, 0), 3.0)

    def test_the_totals_are_unchanged(self):
        prices = [19.99, 5.0, 120.0, 0.5]
        self.assertEqual(pricing.member_total(prices, 15), 123.66)
        self.assertEqual(pricing.member_total(prices, 200), 0.0)
        self.assertEqual(pricing.coupon_total(prices, 15, minimum=10), 124.49)
        self.assertEqual(pricing.coupon_total([], 15, minimum=10), 0.0)

    def test_both_totals_use_it(self):
        with mock.patch.object(pricing, "apply_discount", wraps=pricing.apply_discount) as spy:
            pricing.member_total([10.0, 20.0], 10)
            self.assertEqual(spy.call_count, 2)
            spy.reset_mock()
            pricing.coupon_total([5.0, 20.0, 30.0], 50, minimum=10)
            self.assertEqual(spy.call_count, 2)


if __name__ == "__main__":
    unittest.main()
