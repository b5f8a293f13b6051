"""Settlement to merchants (立替払い): contracts, statements, Zengin 総合振込 payout files (docs/settlement.md)."""
