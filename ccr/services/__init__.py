"""What the faces call: sessions, commands and their lifecycle, topics, drafts, prompting,
history, dead letters, delivery, doctor. Imports core and infrastructure, never a face."""
