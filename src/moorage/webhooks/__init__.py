"""Webhooks (DTR's ``/api/v0/webhooks``): the hooks and who may own them (``hooks``), what is
sent (``payloads``), the events outbox turned into deliveries (``dispatch``) and one delivery's
attempts (``delivery``). Outbound HTTP goes through ``moorage.remote``'s address guard."""
