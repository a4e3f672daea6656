//! Entry point: mounts the app.

fn main() {
    yew::Renderer::<lockstep_frontend::view::app::App>::new().render();
}
