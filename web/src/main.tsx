import { render } from 'preact';
import '@fontsource/inter/400.css';
import '@fontsource/inter/600.css';
import './styles.css';
import { App } from './app.js';

render(<App />, document.getElementById('app')!);
