"""The self-service page: a customer opens one booking from the `[MANAGE_URL]` link in a reminder
or follow-up, and reschedules, cancels, confirms or rates it, as its customer token allows."""
