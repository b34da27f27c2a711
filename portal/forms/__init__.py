"""WTForms classes: parsing and field checks only; rules live in portal/services."""
