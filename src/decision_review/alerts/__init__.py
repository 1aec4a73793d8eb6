"""Alert webhooks: tell people when a queue's SLA is breached or its depth passes a limit."""
