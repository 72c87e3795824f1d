/** File names inside the data directory. */
export const DATABASE_FILE_NAME = 'persona-mcp.db';
/** The folder of stored media files (attachments, avatars, scene pictures) when the store is SQLite. */
export const MEDIA_DIRECTORY = 'media';
