import unittest

from pricing import coupon_total, member_total


class PricingTest(unittest.TestCase):
    def test_member_total(self):
        self.assertEqual(member_total([10.0, 20.0], 10), 27.0)

    def test_coupon_total_skips_cheap_items(self):
        self.assertEqual(coupon_total([5.0, 20.0], 50, minimum=10), 15.0)


if __name__ == "__main__":
    unittest.main()
