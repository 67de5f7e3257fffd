"""HTTP plumbing shared by every surface: dependencies, caller resolution, error rendering."""
