//! The `oci-pypi` binary: parse the configuration, set up logging, bind, serve (or run a
//! one-off command).

use std::process::ExitCode;

use oci_pypi::config::Cli;

#[tokio::main]
async fn main() -> ExitCode {
    let Cli { config, command } = Cli::load();
    // Dropped last, on every return: sends the traces not yet exported.
    // A command's result is its stdout: its log lines go to stderr.
    let _telemetry = oci_pypi::telemetry::init(&oci_pypi::telemetry::TelemetrySettings {
        to_stderr: command.is_some(),
        ..config.telemetry.settings()
    });
    if let Some(command) = command {
        return match oci_pypi::commands::run(&command, &config).await {
            Ok(report) => {
                println!("{report}");
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("oci-pypi: {error}");
                ExitCode::FAILURE
            }
        };
    }
    // Everything that can be wrong in the configuration is found before listening.
    let state = match oci_pypi::state(&config) {
        Ok(state) => state,
        Err(error) => {
            eprintln!("oci-pypi: {}", oci_pypi::telemetry::error_chain(&error));
            return ExitCode::FAILURE;
        }
    };
    #[cfg(target_os = "linux")]
    if let Some((before, after)) = oci_pypi::server::raise_open_files_limit() {
        tracing::info!("open files limit raised from {before} to {after}");
    }
    let server = &config.server;
    let address = (server.host, server.port());
    let listener = match tokio::net::TcpListener::bind(address).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!(
                "oci-pypi: cannot listen on {}:{}: {error}",
                server.host,
                server.port()
            );
            return ExitCode::FAILURE;
        }
    };
    if let Ok(local) = listener.local_addr() {
        tracing::info!(listen.address = %local, "oci-pypi {} listening on http://{local}", env!("CARGO_PKG_VERSION"));
    }
    let options = oci_pypi::ServeOptions::new(server);
    match oci_pypi::serve_state(listener, state, options, shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("oci-pypi: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = interrupt => {},
            () = terminate => {},
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("shutting down: finishing requests in flight");
}
