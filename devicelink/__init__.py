"""The device link: MQTT topic contract, device identities and brokers shared by devices and portal."""
