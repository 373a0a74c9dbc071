"""Appointment reminders from Google Calendar and Outlook (Microsoft Graph)."""
