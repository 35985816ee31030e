"""Order totals, with member and coupon discounts."""


def member_total(prices: list[float], percent: float) -> float:
    total = 0.0
    for price in prices:
        cut = price * percent / 100
        if cut > price:
            cut = price
        total += round(price - cut, 2)
    return round(total, 2)


def coupon_total(prices: list[float], percent: float, minimum: float) -> float:
    total = 0.0
    for price in prices:
        if price < minimum:
            total += price
            continue
        cut = price * percent / 100
        if cut > price:
            cut = price
        total += round(price - cut, 2)
    return round(total, 2)
