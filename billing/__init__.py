"""Platform billing: our own fees to tenants. Built in issue 7."""
