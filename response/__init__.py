"""Response and endpoints: IMWG responses and survival endpoints."""
