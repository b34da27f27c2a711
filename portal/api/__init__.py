"""The JSON API's plumbing: problem responses, marshmallow schemas, and the OpenAPI document built from the code.

The operations themselves are thin views in `portal/views/api_v1.py`; each is declared once with
`operation(...)`, which both routes it and describes it in the OpenAPI document.
"""
