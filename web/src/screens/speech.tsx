/**
 * The browser's speech, where it offers it: a reply read aloud (speech synthesis) and a message dictated
 * (speech recognition). Neither is sent to the server; both are the browser's own. Where a browser lacks
 * one, its control says so instead of vanishing, and a failure is explained in words.
 */
import { useEffect, useRef, useState } from 'preact/hooks';

/** The Web Speech API's recognition, which TypeScript's DOM library does not declare. */
interface SpeechRecognitionInstance {
  lang: string;
  interimResults: boolean;
  continuous: boolean;
  onresult: ((event: { results: ArrayLike<ArrayLike<{ transcript: string }>> }) => void) | null;
  onend: (() => void) | null;
  onerror: ((event: { error?: string }) => void) | null;
  start(): void;
  stop(): void;
}
type SpeechRecognitionConstructor = new () => SpeechRecognitionInstance;

function recognitionClass(): SpeechRecognitionConstructor | undefined {
  const speaking = window as unknown as { SpeechRecognition?: SpeechRecognitionConstructor; webkitSpeechRecognition?: SpeechRecognitionConstructor };
  return speaking.SpeechRecognition ?? speaking.webkitSpeechRecognition;
}

/** What went wrong, in words, by the Web Speech API's error code. */
export function explainVoiceError(code: string | undefined): string {
  switch (code) {
    case 'not-allowed':
    case 'service-not-allowed':
      return 'The browser did not let this page use the microphone: allow it (the icon in the address bar) and press Speak again.';
    case 'audio-capture':
      return 'No microphone was found: connect one, or type your message.';
    case 'no-speech':
      return 'Nothing was heard: press Speak and talk, or type your message.';
    case 'network':
      return "The browser's speech service could not be reached (it works online, and some Chromium builds have none): type your message instead.";
    case 'language-not-supported':
      return "The browser cannot recognise this page's language: type your message instead.";
    default:
      return `Voice input stopped (${code ?? 'unknown error'}): type your message instead.`;
  }
}

/**
 * The Speak button: dictates into the message (appending to what is typed), or — where the browser has
 * no speech recognition — a disabled button and the reason beside it.
 */
export function VoiceInput({ onText }: { onText: (transcript: string) => void }) {
  const [isListening, setListening] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const recognition = useRef<SpeechRecognitionInstance | null>(null);
  const Recognition = recognitionClass();
  useEffect(() => () => recognition.current?.stop(), []);

  if (Recognition === undefined) {
    return (
      <>
        <button type="button" class="secondary" disabled aria-describedby="voice-unavailable">
          Speak
        </button>
        <p id="voice-unavailable" class="muted small voice-note">
          Voice input needs a browser with speech recognition (Chrome, Edge or Safari); type your message here.
        </p>
      </>
    );
  }

  const toggle = (): void => {
    if (isListening) {
      recognition.current?.stop();
      return;
    }
    const listener = new Recognition();
    listener.lang = navigator.language;
    listener.interimResults = false;
    listener.continuous = false;
    listener.onresult = (event) => {
      const transcript = event.results[0]?.[0]?.transcript ?? '';
      if (transcript.trim() !== '') onText(transcript.trim());
    };
    listener.onerror = (event) => setProblem(explainVoiceError(event.error));
    listener.onend = () => {
      setListening(false);
      recognition.current = null;
    };
    recognition.current = listener;
    setProblem(null);
    setListening(true);
    try {
      listener.start();
    } catch (error) {
      setListening(false);
      setProblem(explainVoiceError(error instanceof Error ? error.name : undefined));
    }
  };

  return (
    <>
      <button type="button" class="secondary" onClick={toggle}>
        {isListening ? 'Listening… (stop)' : 'Speak'}
      </button>
      {problem !== null && (
        <p class="muted small voice-note" role="status">
          {problem}
        </p>
      )}
    </>
  );
}

/** "Read aloud" on a reply, and "Stop reading" while it is read; absent where the browser cannot speak. */
export function ReadAloud({ text }: { text: string }) {
  const [isReading, setReading] = useState(false);
  const reading = useRef(false);
  // Leaving the chat (or the reply) stops its voice.
  useEffect(
    () => () => {
      if (reading.current) speechSynthesis.cancel();
    },
    [],
  );
  if (!('speechSynthesis' in window) || text.trim() === '') return null;
  const toggle = (): void => {
    // One voice at a time: another reply being read stops first.
    speechSynthesis.cancel();
    const done = (): void => {
      reading.current = false;
      setReading(false);
    };
    if (isReading) {
      done();
      return;
    }
    const utterance = new SpeechSynthesisUtterance(text);
    utterance.lang = document.documentElement.lang || navigator.language;
    utterance.onend = done;
    utterance.onerror = done;
    reading.current = true;
    setReading(true);
    speechSynthesis.speak(utterance);
  };
  return (
    <button type="button" class="link" onClick={toggle}>
      {isReading ? 'Stop reading' : 'Read aloud'}
    </button>
  );
}
