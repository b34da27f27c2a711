"""Business rules as plain functions over the models; views call these and own the commit."""
