"""Test support shared by the test layers (the stand-in driver)."""
