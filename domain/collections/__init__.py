"""Collections (消込 and 督促): incoming payment files, matching, the dunning ladder, charge-off and recovery."""
