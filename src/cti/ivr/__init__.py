"""The IVR: our FastAGI server and the menus it runs."""
