"""`python -m app.migrate_tenants`: the fleet migration runner's command (app.tenants.fleet.cli)."""

from app.tenants.fleet.cli import main

if __name__ == "__main__":
    main()
