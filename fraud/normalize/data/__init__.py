"""Static tables for 名寄せ normalisation (plain Python data, no I/O at import)."""
