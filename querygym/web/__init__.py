"""The web app behind ``querygym serve`` (extra ``ui``): Explore, SQL analysis, Agents and Predictions pages,
and a JSON API.

``episodes``  episodes played from the browser, kept per session and capped (no HTTP)
``sqlsteps``  one SQL query as a black box and as steps: failing and diverging step (no HTTP)
``runs``      run folders written by ``querygym run``: records, filters, paging, comparison (no HTTP)
``analyses``  analysis folders written by ``querygym analyze``: records, filters, paging, comparison (no HTTP)
``live``      an agent playing in a thread while a page watches its steps (no HTTP)
``app``       the Starlette app: routes, templates (``templates/``) and vendored assets (``static/``)
"""
