"""dreamvid studio: a local web page to try dreams live, then render them (`dreamvid studio`).

Everything here sits on top of the library's Python API (one render path); the web framework is
only imported by `app` and `server`, so the rest of the package stays importable without the extra.
"""
