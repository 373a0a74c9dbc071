"""HubSpot: OAuth app, custom workflow action that sends an SMS, timeline logging."""
