"""The simulator's tests (asana_sim): faithful to Asana's OpenAPI description and its SDK."""
