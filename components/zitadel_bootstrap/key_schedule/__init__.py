"""key_schedule"""
