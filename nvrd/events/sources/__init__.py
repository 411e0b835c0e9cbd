"""Event sources: each a small adapter from one service's hooks to bus events (one
module per service). See ``base.py`` for what they share."""
