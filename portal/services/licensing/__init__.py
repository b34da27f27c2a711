"""Licensing: plans, products, promotions, activation codes, prices, and each device's subscription timeline.

Pure rules (plans, products, promotions, activation_codes, subscription_timeline, price_list) need no
database; `entitlements` applies them to the database (trials, orders, redemption, assignment).
"""
