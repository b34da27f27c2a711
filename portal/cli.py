"""`flask --app portal ...` commands."""

from __future__ import annotations

import click
from flask import Flask, current_app

from portal.extensions import db


def init_app(app: Flask) -> None:
    from portal.ingest import ingest_command, maintenance_command

    app.cli.add_command(ingest_command)
    app.cli.add_command(maintenance_command)

    from portal.notify_worker import notify_command, renewals_command

    app.cli.add_command(notify_command)
    app.cli.add_command(renewals_command)

    @app.cli.command("battery")
    def battery_command() -> None:
        """Record finished runs on battery as discharges and update battery health; safe to run any number of times."""
        from portal.services.battery.discharges import record_discharges
        from portal.services.clock import clock

        lab_clock = clock()
        result = record_discharges(
            now=lab_clock.now(),
            today=lab_clock.today(),
            alert_below=current_app.config["BATTERY_HEALTH_ALERT_PERCENT"] / 100.0,
        )
        db.session.commit()
        click.echo(
            f"Recorded {result.discharges} discharge(s) on {result.devices} device(s); "
            f"{result.alerts} battery health alert(s) queued."
        )

    @app.cli.group("telemetry")
    def telemetry_group() -> None:
        """Telemetry storage: time partitions on PostgreSQL (docs/scaling.md)."""

    @telemetry_group.command("partition")
    def partition_command() -> None:
        """Partition telemetry_samples by day (PostgreSQL, UPSCONNECT_TELEMETRY_PARTITIONS=daily); safe to run again."""
        from portal.services.clock import clock
        from portal.services.fleet import telemetry_partitions as partitions

        try:
            if partitions.setting(current_app.config) != "daily":
                raise partitions.PartitionError(
                    f"{partitions.SETTING} is not set: set it to daily (on every process: ingest, web, cron) "
                    "to partition telemetry by day. Nothing was changed."
                )
            done = partitions.convert(clock().today())
        except partitions.PartitionError as error:
            db.session.rollback()
            raise click.ClickException(str(error)) from None
        db.session.commit()
        if done is None:
            click.echo("telemetry_samples is already partitioned by day: nothing to do.")
        else:
            click.echo(
                f"telemetry_samples is now partitioned by day: {done.copied} sample(s) copied into "
                f"{len(done.partitions)} partition(s), the default one included."
            )

    @app.cli.command("demo")
    @click.option("--seed", default=2026, show_default=True, help="Faker seed: the same seed gives the same companies.")
    def demo_command(seed: int) -> None:
        """Create the demo companies and users once, and print how to sign in."""
        from portal.services.accounts.demo_data import ensure_demo_data

        credentials = ensure_demo_data(seed=seed, instance_path=current_app.instance_path)
        db.session.commit()
        click.echo("")
        click.echo("  Demo sign-in details (also in instance/demo-credentials.txt):")
        for line in credentials:
            click.echo(f"    {line}")
        click.echo("")
