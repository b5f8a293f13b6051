"""The fraud engine (O-PLUX-like screening). Built in issue 3."""
