//! The control plane's controllers, acting on the lab's store: scheduler, Deployments,
//! EndpointSlices.
//!
//! Each one is a pure core (objects in, desired changes out: [`scheduler::plan`],
//! [`deployment::plan`], [`endpointslice::reconcile`]) driven by a tokio task that follows the
//! store's events and re-reads it ([`run`]). Pod status belongs to the kubelet emulation; these
//! controllers only bind, create, delete and keep their own objects' status.
//!
//! ```no_run
//! # async fn example() {
//! use probesim_lab::api::Store;
//! use probesim_lab::controllers::Controllers;
//!
//! let store = Store::new();
//! let controllers = Controllers::start(store.clone());
//! // ... apply Nodes, Deployments, Services; a kubelet runs the pods ...
//! controllers.stop().await;
//! # }
//! ```

pub mod deployment;
pub mod endpointslice;
mod objects;
pub mod run;
pub mod scheduler;

use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::api::Store;

pub use deployment::DeploymentController;
pub use endpointslice::{DEFAULT_MAX_ENDPOINTS_PER_SLICE, EndpointSliceController};
pub use scheduler::Scheduler;

/// Which controllers run, and how.
#[derive(Clone, Debug)]
pub struct Settings {
    pub scheduler: bool,
    pub deployments: bool,
    pub endpoint_slices: bool,
    /// kube-controller-manager's `--max-endpoints-per-slice`.
    pub max_endpoints_per_slice: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            scheduler: true,
            deployments: true,
            endpoint_slices: true,
            max_endpoints_per_slice: DEFAULT_MAX_ENDPOINTS_PER_SLICE,
        }
    }
}

/// The running controllers. Dropping the handle stops them too (without waiting).
#[derive(Debug)]
pub struct Controllers {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Controllers {
    /// Starts the scheduler, the Deployment controller and the EndpointSlice controller on the
    /// current tokio runtime.
    pub fn start(store: Arc<Store>) -> Controllers {
        Controllers::start_with(store, &Settings::default())
    }

    pub fn start_with(store: Arc<Store>, settings: &Settings) -> Controllers {
        let (stop, stopped) = watch::channel(false);
        let mut tasks = Vec::new();
        if settings.scheduler {
            tasks.push(tokio::spawn(run::run(
                store.clone(),
                Scheduler,
                stopped.clone(),
            )));
        }
        if settings.deployments {
            let controller = DeploymentController;
            tasks.push(tokio::spawn(run::run(
                store.clone(),
                controller,
                stopped.clone(),
            )));
        }
        if settings.endpoint_slices {
            let controller = EndpointSliceController::new(settings.max_endpoints_per_slice);
            tasks.push(tokio::spawn(run::run(store, controller, stopped)));
        }
        Controllers { stop, tasks }
    }

    /// Stops every controller and waits until each has finished its current pass.
    pub async fn stop(mut self) {
        self.stop.send_replace(true);
        for task in std::mem::take(&mut self.tasks) {
            if let Err(e) = task.await {
                tracing::warn!(error = %e, "a controller task failed");
            }
        }
    }
}

impl Drop for Controllers {
    fn drop(&mut self) {
        self.stop.send_replace(true);
        for task in &self.tasks {
            task.abort();
        }
    }
}
