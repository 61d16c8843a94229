"""Versions of the data and stored answers: each relation's data version (from the tables it
reads), the clock that bumps it, stored whole-relation downloads and byte ranges over them."""
