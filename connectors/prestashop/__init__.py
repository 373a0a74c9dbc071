"""PrestaShop: order-state notifications from the webservice poller or the module's POSTs."""
