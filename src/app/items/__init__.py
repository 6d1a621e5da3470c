"""Items: the example domain, one table per tenant schema."""
