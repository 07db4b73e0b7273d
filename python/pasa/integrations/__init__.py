"""Integrations with other libraries. ``import pasa`` imports none of them; each module imports its library when
it is itself imported (``pasa.integrations.huggingface`` then registers ``attn_implementation="pasa"``)."""
