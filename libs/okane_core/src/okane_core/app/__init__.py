"""The application layer: one module per use case, and the only way in.

Endpoints, web pages, the CLI, sweepers and warm runs parse and authorize, call one use case
with the process's :class:`~okane_core.app.context.Okane`, and render what it returns. Each use
case owns its unit of work (``okane_core.db.uow``); none of them knows HTTP.
"""
