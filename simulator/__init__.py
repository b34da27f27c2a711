"""The device lab: a physics-ish Smart-UPS model, simulated devices and fleets over MQTT."""
