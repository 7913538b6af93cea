"""The response bodies of /api/v0 and /enzi/v0 as pydantic models with DTR's field names."""
