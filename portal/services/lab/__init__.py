"""The device lab seen from the portal (lab mode only): the simulator's control API, the lab console and
time travel that moves the portal and the simulated fleet together."""
