"""Email to SMS: an SMTP receiver that turns authorised emails into SMS requests."""
